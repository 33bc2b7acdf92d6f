from daxlint.cli import main

main()
