"""The console's page and static files, served by deskhook.api.console_http."""
