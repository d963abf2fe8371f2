"""The Storage SCP service that storescp, movescu and the demo are made of."""
