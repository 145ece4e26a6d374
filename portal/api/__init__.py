"""The JSON API, one router per concern."""
