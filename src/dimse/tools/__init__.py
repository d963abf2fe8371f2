"""The command-line tools: thin modules over the core and the shared command-line layer."""
