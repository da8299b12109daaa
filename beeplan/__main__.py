from beeplan.cli import main

main()
