"""The front end: serves the page, the REST API and the terminal WebSocket."""
