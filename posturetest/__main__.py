from posturetest.cli import main

main()
