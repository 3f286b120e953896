"""Incident Lifecycle for Port: the shared layer every function of the SAM bundle imports."""
