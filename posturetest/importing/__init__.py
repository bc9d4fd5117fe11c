"""Import of an export: a CSV in the interchange format, or a datapackage.json from `export`.

One pass over the file, a batch of rows at a time: each batch is checked (every cell, the rules
within a row, the rules across rows) and written inside one transaction. Writing stops at the
first problem while checking goes on, to list up to 20 problems, and any problem rolls the whole
transaction back. Rows already in the database with the same values are already present; the
same UUID with other values is a conflict, and nothing is kept.

`source` finds and sniffs the files, `reading` parses their CSV, `cells` checks each cell,
`rules` the rules within and across rows, `tables` puts these together per kind of file,
`parallel` checks a large trials file in a second process, and `run` writes it all.
"""

from posturetest.importing.cells import check_row
from posturetest.importing.parallel import check_in_worker
from posturetest.importing.problems import ImportRefused, UnusableFile
from posturetest.importing.run import import_file
from posturetest.importing.source import Source, locate

__all__ = [
    "ImportRefused",
    "Source",
    "UnusableFile",
    "check_in_worker",
    "check_row",
    "import_file",
    "locate",
]
