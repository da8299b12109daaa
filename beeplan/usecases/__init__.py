"""The use cases, one module per command: inputs in, result values out, no click.

``beeplan/cli/`` parses the arguments, calls one of these, and prints; what a
use case must show or ask on the way (the plan before applying, "Apply these
changes?") goes through the small ``Console`` it is given.
"""
