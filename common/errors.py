"""The platform's exceptions, all under one root."""


class LambdaError(Exception):
    """Root of every error the platform raises on purpose."""


class ViewsError(LambdaError):
    """The views file is missing or invalid."""


class EventError(LambdaError):
    """An event does not follow the event schema."""


class BrokerError(LambdaError):
    """The Kafka-compatible broker could not be reached or did not acknowledge in time."""


class LakeError(LambdaError):
    """The data directory holds something the platform cannot read."""


class ProcessError(LambdaError):
    """A process of the platform could not be started, stopped or kept running."""


class SecurityError(LambdaError):
    """A setting would leave the platform open: bound beyond loopback with no key set."""


class DamagedFile(LakeError):
    """A file of the data directory exists but cannot be read (truncated, empty, corrupt,
    foreign bytes, or content of the wrong shape)."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path} cannot be read: {reason}")
        self.path = path
        self.reason = reason
