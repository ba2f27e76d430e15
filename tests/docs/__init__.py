"""What the docs and the package promise: examples run, numbers tied, tables generated, public names, bench harness."""
