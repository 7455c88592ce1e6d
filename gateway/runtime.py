"""The gateway's long-lived parts, and the config-derived view that a reload swaps whole.

`Gateway` owns what lives as long as the process: the store, and per upstream its pooled client
and session custody. `Runtime` is everything derived from one config: authentication, and per
caller one compiled `CallerPolicy` (allowlist, scope, parameter rules, limits, forwarder). A
request reads `gateway.runtime` once and uses that object throughout, so a reload is atomic
from every call's point of view.

An upstream whose settings change on reload gets a new client and custody; the old one is retired.
Calls in flight still hold the old `Runtime`, hence its forwarders and custodies, so a retired
custody is closed only once no `Runtime` that could hand it out is alive any more: exactly when
the last call that read the old config has finished, however long that takes.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from .auth import Authentication, CallerSessions
from .bodybudget import BodyBudget
from .call import Call
from .custody import SessionCustody
from .downloads import Downloads
from .forward import Forwarder
from .limits import CallerLimits
from .policy.caller import CallerPolicy
from .settings import Settings, UpstreamSettings
from .store import Store, open_store
from .upstream import OmaClient, open_session

__all__ = ["Gateway", "Observer", "Runtime"]

log = structlog.get_logger(__name__)

Observer = Callable[[Call], None]


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Runtime:
    settings: Settings
    auth: Authentication
    policies: Mapping[str, CallerPolicy]  # by caller name

    @classmethod
    def build(
        cls, settings: Settings, custodies: Mapping[str, SessionCustody], store: Store
    ) -> Runtime:
        logins = [u.user for u in settings.upstreams.values()]  # no caller may touch any of them
        return cls(
            settings=settings,
            auth=Authentication(settings.callers, CallerSessions(store.caller_tokens)),
            policies={
                c.name: CallerPolicy.build(
                    c,
                    CallerLimits(c, settings.upstreams[c.upstream]),
                    Forwarder(custodies[c.upstream]),
                    logins,
                )
                for c in settings.callers.values()
            },
        )


class Gateway:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.downloads = Downloads(store.caller_tokens)
        #: Bytes of bodies still arriving for callers not yet identified (per process).
        self.bodies = BodyBudget()
        self.custodies: dict[str, SessionCustody] = {}
        self.observers: list[Observer] = []
        self.draining = False
        self._loop = asyncio.get_running_loop()  # client sessions and finalizers bind to it
        self._started = False
        self._holders: dict[SessionCustody, int] = {}  # live runtimes that can hand each out
        self._retired: set[SessionCustody] = set()  # replaced, closed once no runtime holds them
        self._closing: set[asyncio.Task[None]] = set()
        self.runtime = self._build(settings)

    @classmethod
    def open(cls, settings: Settings) -> Gateway:
        """Needs a running event loop (client sessions bind to it)."""
        return cls(settings, open_store(settings.store))

    def reload(self, settings: Settings) -> None:
        """Swap in a validated config. Upstreams whose settings changed get a new client and
        custody; the old ones keep serving calls already holding them, then close. Restart-only
        settings (the store among them) are pinned by `restartonly` before this is called."""
        self.runtime = self._build(settings)

    async def close(self) -> None:
        await asyncio.gather(*self._closing)
        for custody in (*self.custodies.values(), *self._retired):
            await custody.close()
        self._retired.clear()
        await self.store.close()

    def observe(self, call: Call) -> None:
        for observer in self.observers:
            observer(call)

    def _build(self, settings: Settings) -> Runtime:
        replaced = []
        for name, upstream in settings.upstreams.items():
            current = self.custodies.get(name)
            if current is None or current.client.settings != upstream:
                if current is not None:
                    replaced.append(current)
                self.custodies[name] = self._custody(upstream)
        replaced += [self.custodies.pop(n) for n in set(self.custodies) - set(settings.upstreams)]
        runtime = Runtime.build(settings, self.custodies, self.store)
        self._hold(runtime)
        self._retired.update(replaced)
        return runtime

    def _hold(self, runtime: Runtime) -> None:
        """Count `runtime` as a holder of every current custody until it is garbage."""
        held = tuple(self.custodies.values())
        for custody in held:
            self._holders[custody] = self._holders.get(custody, 0) + 1
        weakref.finalize(runtime, self._released, held).atexit = False

    def _released(self, held: tuple[SessionCustody, ...]) -> None:
        # A finalizer may run inside any thread's garbage collection: hop onto the loop.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._unhold, held)

    def _unhold(self, held: tuple[SessionCustody, ...]) -> None:
        for custody in held:
            self._holders[custody] -= 1
            if self._holders[custody] == 0 and custody in self._retired:
                del self._holders[custody]
                self._retired.discard(custody)
                task = asyncio.create_task(custody.close(), name=f"retire:{custody.name}")
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
                log.info("upstream_client_retired", upstream=custody.name)

    def _custody(self, upstream: UpstreamSettings) -> SessionCustody:
        client = OmaClient(upstream, open_session(upstream))
        # After start, a custody is a reload's new or changed upstream.
        custody = SessionCustody(client, self.store.sessions, changed=self._started)
        if self._started:  # a reload's new upstream: refresh ahead like the others
            custody.start()
        return custody

    def start(self) -> None:
        """Begin each custody's warm-up login and proactive refresh."""
        self._started = True
        for custody in self.custodies.values():
            custody.start()
