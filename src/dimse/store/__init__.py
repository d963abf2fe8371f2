"""storescu's machinery: input files, the presentation-context proposal, sending one file."""
