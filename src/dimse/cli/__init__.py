"""The DCMTK-style command-line layer every tool is built on."""
