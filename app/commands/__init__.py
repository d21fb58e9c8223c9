"""One module per CLI command: each exposes add_arguments(parser) and run(args) -> int."""
