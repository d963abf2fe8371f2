"""movescu's machinery: query keys, the embedded Storage SCP, the C-MOVE loop."""
