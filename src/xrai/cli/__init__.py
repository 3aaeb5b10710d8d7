"""The xrai command line (see :mod:`xrai.cli.main`)."""
