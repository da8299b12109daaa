from beeplan.cli import entry

entry()
