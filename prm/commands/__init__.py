"""One module per `prm` subcommand (see `prm.cli.SUBCOMMANDS`)."""
