"""The gateway's long-lived parts, and the config-derived view that a reload swaps whole.

`Gateway` owns what lives as long as the process: the store, and per upstream its pooled client
and session custody. `Runtime` is everything derived from one config (keys, allowlists, limit
rules, which forwarder serves which caller). A request reads `gateway.runtime` once and uses that
object throughout, so a reload is atomic from every call's point of view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from .call import Call
from .custody import SessionCustody
from .forward import Forwarder
from .keys import Keyring
from .limits import CallerLimits
from .policy import Allowlist
from .settings import CallerSettings, Settings, UpstreamSettings
from .store import Store, open_store
from .upstream import OmaClient, open_session

__all__ = ["Gateway", "Observer", "Runtime"]

log = structlog.get_logger(__name__)

Observer = Callable[[Call], None]


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    keyring: Keyring
    allowlists: Mapping[str, Allowlist]
    limits: Mapping[str, CallerLimits]
    forwarders: Mapping[str, Forwarder]  # by caller name

    @classmethod
    def build(cls, settings: Settings, custodies: Mapping[str, SessionCustody]) -> Runtime:
        callers = settings.callers.values()
        return cls(
            settings=settings,
            keyring=Keyring(settings.callers),
            allowlists={c.name: Allowlist(c.allow, c.deny) for c in callers},
            limits={c.name: CallerLimits(c, settings.upstreams[c.upstream]) for c in callers},
            forwarders={c.name: Forwarder(custodies[c.upstream]) for c in callers},
        )

    def caller(self, name: str) -> CallerSettings:
        return self.settings.callers[name]


class Gateway:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.custodies: dict[str, SessionCustody] = {}
        self.observers: list[Observer] = []
        self.draining = False
        self._retired: list[SessionCustody] = []
        self.runtime = self._build(settings)

    @classmethod
    def open(cls, settings: Settings) -> Gateway:
        """Needs a running event loop (client sessions bind to it)."""
        return cls(settings, open_store(settings.store))

    def reload(self, settings: Settings) -> None:
        """Swap in a validated config. Upstreams whose settings changed get a new client and
        custody; the old ones keep serving calls already holding them and close at shutdown."""
        if settings.store != self.runtime.settings.store:
            log.warning("config_reload_store_unchanged", reason="store settings need a restart")
        self.runtime = self._build(settings)

    async def close(self) -> None:
        for custody in (*self.custodies.values(), *self._retired):
            await custody.close()
        await self.store.close()

    def observe(self, call: Call) -> None:
        for observer in self.observers:
            observer(call)

    def _build(self, settings: Settings) -> Runtime:
        for name, upstream in settings.upstreams.items():
            current = self.custodies.get(name)
            if current is None or current.client.settings != upstream:
                if current is not None:
                    self._retired.append(current)
                self.custodies[name] = self._custody(upstream)
        for name in set(self.custodies) - set(settings.upstreams):
            self._retired.append(self.custodies.pop(name))
        return Runtime.build(settings, self.custodies)

    def _custody(self, upstream: UpstreamSettings) -> SessionCustody:
        custody = SessionCustody(OmaClient(upstream, open_session(upstream)), self.store.sessions)
        if _loop_running():
            custody.start()
        return custody

    def start(self) -> None:
        for custody in self.custodies.values():
            custody.start()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
