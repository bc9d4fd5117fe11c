"""The one-page session report (PDF) to hand to the subject after a session: `content` says
what it tells them, `layout` puts it on the page and writes the file."""

from posturetest.report.content import PostureResult, summary_sentence, when
from posturetest.report.layout import build_report, write_report

__all__ = ["PostureResult", "build_report", "summary_sentence", "when", "write_report"]
