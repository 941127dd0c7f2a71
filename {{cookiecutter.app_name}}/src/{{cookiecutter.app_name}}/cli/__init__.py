"""The commands a person or a CI job runs: `python -m {{ cookiecutter.app_name }} ...`, local_retrain.py and local/.

One module per group of commands; each command parses its arguments with `command.CommandParser` and runs through
`command.run`, which turns the errors a person can act on into a message and exit code 2. This package imports
nothing itself, so the data commands start without loading training or the registry.
"""
