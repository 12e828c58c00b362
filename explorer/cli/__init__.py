"""The command line: one module per command, assembled by explorer.cli.main."""
