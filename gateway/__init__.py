"""The MQTT gateway: decode and validate device payloads, commit them in
batches, acknowledge after commit, dead-letter what cannot be accepted."""

from gateway.config import GatewayConfig
from gateway.decode import Reason, Rejected, decode_event, decode_status, parse_topic
from gateway.intake import Gateway, Sink
from gateway.registry_cache import RegistryCache

__all__ = [
    "Gateway",
    "GatewayConfig",
    "Reason",
    "RegistryCache",
    "Rejected",
    "Sink",
    "decode_event",
    "decode_status",
    "parse_topic",
]
