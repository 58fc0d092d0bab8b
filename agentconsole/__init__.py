"""agentconsole: an on-call console for fleets of AI agents."""

__version__ = "0.1.0"
