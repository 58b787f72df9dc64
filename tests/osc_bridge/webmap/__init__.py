"""Tests of osc_bridge.webmap: the request handling and the HTTP server, in a browser too."""
