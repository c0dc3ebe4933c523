"""The two errors the simulator's API answers with: ApiError (TrackTik's
{"status", "error"} body) and OAuthError (the OAuth2 error body)."""


class ApiError(Exception):
    def __init__(self, status, message, headers=None):
        Exception.__init__(self, message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class OAuthError(Exception):
    def __init__(self, status, error, description, hint=None):
        Exception.__init__(self, description)
        self.status = status
        self.error = error
        self.description = description
        self.hint = hint

    def body(self):
        out = {"error": self.error, "error_description": self.description,
               "message": self.description}
        if self.hint:
            out["hint"] = self.hint
        return out
