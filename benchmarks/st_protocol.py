"""A small Streamlit client that speaks the browser's websocket protocol (``streamlit.proto``).

Each ``Session`` is one browser tab: it asks for a page (``rerun_script`` with a query string),
follows the ForwardMsgs into a view of the page (elements by their place on it, the way the
browser's tree holds them), and remembers the buttons it was shown, so a test can press one
(``click``) or send what any client may send (``clear_cache``). Cheap enough to run many sessions
against one ``streamlit run`` server, and exact: no browser in between.

With ``live=True`` the tab also keeps its live parts live, as Streamlit's frontend does (App.tsx,
``handleAutoRerun``): every ``auto_rerun`` message of a full run (an ``st.fragment(run_every=...)``)
starts a timer that sends ``rerun_script`` with that ``fragment_id`` and ``is_auto_rerun`` every
``interval`` seconds, whether or not the last one has been answered (``setInterval``); the next full
run (a ``new_session`` with no fragment ids) and ``stop_auto_rerun`` clear them. Like the frontend it
keeps a message cache (ForwardMsgs marked ``cacheable``, dropped when not seen for
``max_cached_message_age`` full runs; the frontend also ages a fragment's own entries on its reruns)
and sends its hashes, so the server answers with ``ref_hash`` references for what the tab holds. What
it does not send: the browser's current widget values (a browser sends every widget's value with each
rerun; the server then keeps the values it has) and the browser's heartbeats.

Every answered fragment tick is timed (``tick_times``: from the request to the end of the first
fragment or full run that started after it), and so is every full run the server starts by itself
(``st.rerun()`` from a fragment: ``redraw_times``, from its ``new_session`` to its end).
``exceptions`` collects the bodies of exception boxes the pages showed.

Beyond buttons, a tab can set any widget's value the way the browser sends it (``set``: a radio's
label, a text box's text, a slider's numbers, a component's JSON state) and upload a file to an
uploader or camera widget (``upload``: the upload URL from the server, an HTTP PUT with the XSRF
cookie, then the widget's file list). ``headers`` go with the websocket handshake (a cookie, a proxy's
X-Forwarded-For), as a browser's would.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

__all__ = ["Session"]

DONE = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR)


class Session:
    def __init__(self, url: str, live: bool = False, headers: dict[str, str] | None = None) -> None:
        self.headers = dict(headers or {})
        self.session_id = ""  # the server's id of this tab's session (upload URLs name it)
        self._urls: dict[str, asyncio.Future] = {}  # file_urls request id -> its answer
        self._values: dict[str, tuple[str, object]] = {}  # widget values set so far (sent with every rerun)
        self.http = url.rstrip("/")
        self.url = self.http.replace("http://", "ws://") + "/_stcore/stream"
        self.live = live
        self.ws = None
        self.page = ""
        self.query = ""
        self.page_hash = ""  # the page the server ran last (navigation), as the frontend keeps it
        self.view: dict[tuple, tuple[str, str, str]] = {}  # the page as its last finished run left it
        self._drawing: dict[tuple, tuple[str, str, str]] = {}  # delta path -> (kind, text, widget id), as it arrives
        self.exceptions: list[str] = []
        self.tick_times: list[float] = []
        self.redraw_times: list[float] = []
        self.ticks_sent = 0
        self.timer_intervals: list[float] = []  # the interval of every auto-rerun timer the server started
        self._timers: dict[str, asyncio.Task] = {}  # fragment id -> its auto-rerun timer
        self._ticks: list[float] = []  # send times of unanswered fragment ticks
        self._cache: dict[str, list] = {}  # hash -> [ForwardMsg, full run last seen in]
        self._max_age = 2
        self._full_runs = 0
        self._run: dict = {}  # the script run in progress: start time, fragment ids, requested?
        self._frag_root: tuple | None = None
        self._waiting: asyncio.Future | None = None
        self._asked_at = 0.0
        self._reader: asyncio.Task | None = None

    @property
    def buttons(self) -> dict[str, str]:
        """label -> widget id of the buttons on the page (as its last finished run left it)."""
        return {text: wid for kind, text, wid in self.view.values() if kind == "button"}

    @property
    def texts(self) -> list[str]:
        """Markdown / caption / alert bodies on the page (as its last finished run left it)."""
        return [text for kind, text, _ in self.view.values() if kind == "text"]

    async def __aenter__(self) -> "Session":
        self.ws = await websockets.connect(
            self.url, subprotocols=["streamlit"], max_size=None, additional_headers=self.headers or None
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._stop_timers()
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def open(self, page: str, query: str = "", timeout: float = 60) -> "Session":
        self.page, self.query = page, query
        return await self._rerun({}, timeout)

    async def click(self, label: str, timeout: float = 60) -> "Session":
        if label not in self.buttons:
            raise KeyError(
                f"no button {label!r} on the page {self.page!r} (it has {list(self.buttons)}); it says: "
                + " | ".join(t[:160] for t in self.texts[-6:])
            )
        return await self._rerun({self.buttons[label]: True}, timeout)

    def widget(self, label: str, kind: str | None = None) -> str:
        """The id of the widget with this label (a component: its name) on the page, of ``kind`` if given."""
        for k, text, wid in self.view.values():
            if wid and text == label and k != "button" and (kind is None or k == kind):
                return wid
        raise KeyError(
            f"no widget {label!r} on the page {self.page!r} (it has "
            f"{[t for k, t, w in self.view.values() if w and k != 'button']})"
        )

    async def set(self, values: dict[str, tuple[str, object]], timeout: float = 60) -> "Session":
        """Rerun with widgets set as the browser sends them: widget id -> (value field, value), e.g.
        ("string_value", "draw it"), ("json_value", {...}) (sent as JSON text), ("double_array_value", [1]).
        Like the browser, every later rerun sends them again (a value not sent goes back to its default)."""
        self._values.update(values)
        return await self._rerun({}, timeout)

    async def upload(
        self, widget_id: str, name: str, data: bytes, mime: str = "application/octet-stream", timeout: float = 60
    ) -> "Session":
        """Upload ``data`` to an uploader or camera widget as the browser does, and rerun with it."""
        msg = BackMsg()
        rid = uuid.uuid4().hex
        msg.file_urls_request.request_id = rid
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        self._urls[rid] = asyncio.get_running_loop().create_future()
        await self.ws.send(msg.SerializeToString())
        try:
            urls = (await asyncio.wait_for(self._urls[rid], timeout))[0]
        finally:
            self._urls.pop(rid, None)
        await asyncio.to_thread(self._put, urls.upload_url, name, data, mime)
        info = {
            "file_id": urls.file_id,
            "name": name,
            "size": len(data),
            "file_urls": {"file_id": urls.file_id, "upload_url": urls.upload_url, "delete_url": urls.delete_url},
        }
        return await self.set({widget_id: ("file_uploader_state_value", [info])}, timeout)

    def _put(self, path: str, name: str, data: bytes, mime: str) -> None:
        with urllib.request.urlopen(self.http + "/_stcore/health", timeout=30) as r:  # sets the XSRF cookie
            cookies = [c.split(";")[0] for c in r.headers.get_all("Set-Cookie") or []]
        xsrf = next((c.split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf=")), "")
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: {mime}\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        req = urllib.request.Request(
            self.http + path,
            data=body,
            method="PUT",
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "X-Xsrftoken": xsrf,
                "Cookie": "; ".join(cookies),
            },
        )
        urllib.request.urlopen(req, timeout=120).close()

    async def clear_cache(self) -> None:
        msg = BackMsg()
        msg.clear_cache = True
        await self.ws.send(msg.SerializeToString())

    @property
    def idle(self) -> bool:
        """No script run in progress and no live part left redrawing: the page is as it will stay."""
        return not (self._timers or self._run.get("running"))

    async def until_idle(self, timeout: float) -> bool:
        """Keep the page open until it stops redrawing itself (its live part ended and the last full run
        is drawn), or ``timeout`` seconds pass. True when it stopped."""
        deadline = time.perf_counter() + timeout
        while not self.idle and time.perf_counter() < deadline:
            self.check()
            await asyncio.sleep(0.1)
        return self.idle

    def check(self) -> None:
        """Raise the connection's error if it has ended."""
        if self._reader is not None and self._reader.done():
            self._reader.result()
            raise ConnectionError("the server closed the connection")

    # -- what the tab sends --------------------------------------------------------------------

    def _client_state(self, msg: BackMsg, fragment_id: str = "") -> None:
        cs = msg.rerun_script
        cs.query_string = self.query
        if fragment_id:  # the frontend names the page by its hash once it knows it
            cs.page_script_hash, cs.fragment_id, cs.is_auto_rerun = self.page_hash, fragment_id, True
        else:
            cs.page_name = self.page
        cs.cached_message_hashes.extend(self._cache)
        ci = cs.context_info
        ci.timezone, ci.timezone_offset, ci.locale = "UTC", 0, "en-US"
        ci.url, ci.is_embedded, ci.color_scheme = f"{self.http}/{self.page}", False, "light"

    async def _rerun(self, triggers: dict[str, object], timeout: float) -> "Session":
        msg = BackMsg()
        self._client_state(msg)
        for wid, value in {**self._values, **triggers}.items():
            w = msg.rerun_script.widget_states.widgets.add()
            w.id = wid
            if not isinstance(value, tuple):
                w.trigger_value = value
            elif value[0] == "json_value":
                w.json_value = json.dumps(value[1])
            elif value[0] == "file_uploader_state_value":
                for f in value[1]:
                    info = w.file_uploader_state_value.uploaded_file_info.add()
                    info.file_id, info.name, info.size = f["file_id"], f["name"], f["size"]
                    for k, v in f["file_urls"].items():
                        setattr(info.file_urls, k, v)
            elif value[0].endswith("_array_value"):
                getattr(w, value[0]).data.extend(value[1])
            else:
                setattr(w, value[0], value[1])
        self._waiting = asyncio.get_running_loop().create_future()
        self._asked_at = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        done, _ = await asyncio.wait(
            {self._waiting, self._reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._waiting in done:
            self._waiting = None
            return self
        if self._reader in done:
            self._reader.result()  # raises the reader's error
            raise ConnectionError("the server closed the connection")
        raise asyncio.TimeoutError(f"no answer to the rerun of {self.page!r} in {timeout} s")

    async def _tick(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            msg = BackMsg()
            self._client_state(msg, fragment_id)
            self._ticks.append(time.perf_counter())
            self.ticks_sent += 1
            try:
                await self.ws.send(msg.SerializeToString())
            except websockets.ConnectionClosed:
                return

    def _stop_timers(self, ids=None) -> None:
        for fid in list(self._timers) if ids is None else ids:
            task = self._timers.pop(fid, None)
            if task is not None:
                task.cancel()

    # -- what the tab receives -----------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            self._handle(fm)

    def _handle(self, fm: ForwardMsg) -> None:
        kind = fm.WhichOneof("type")
        if kind == "ref_hash":  # a message the tab holds: the server sent only its hash
            held = self._cache.get(fm.ref_hash)
            if held is None:
                return
            held[1] = self._full_runs
            body = ForwardMsg()
            body.CopyFrom(held[0])
            body.metadata.CopyFrom(fm.metadata)
            fm, kind = body, body.WhichOneof("type")
        elif fm.metadata.cacheable and fm.hash:
            self._cache[fm.hash] = [fm, self._full_runs]
        if kind == "new_session":
            self.session_id = fm.new_session.initialize.session_id or self.session_id
            self._started(fm)
        elif kind == "file_urls_response":
            fut = self._urls.get(fm.file_urls_response.response_id)
            if fut is not None and not fut.done():
                fut.set_result(list(fm.file_urls_response.file_urls))
        elif kind == "delta":
            self._delta(fm)
        elif kind == "script_finished":
            self._finished(fm.script_finished)
        elif kind == "auto_rerun" and self.live:
            fid, interval = fm.auto_rerun.fragment_id, fm.auto_rerun.interval
            if fid not in self._timers and interval > 0:
                self.timer_intervals.append(interval)
                self._timers[fid] = asyncio.ensure_future(self._tick(fid, interval))
        elif kind == "stop_auto_rerun":
            self._stop_timers(list(fm.stop_auto_rerun.fragment_ids))
        elif kind == "navigation":  # the page this run drew (new_session names the main script)
            self.page_hash = fm.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = fm.page_info_changed.query_string

    def _started(self, fm: ForwardMsg) -> None:
        frags = list(fm.metadata.run.fragment_ids)
        now = time.perf_counter()
        self._run = {
            "t": now,
            "fragment": bool(frags),
            "running": True,
            "asked": self._waiting is not None and not self._waiting.done(),
        }
        self._max_age = fm.new_session.config.max_cached_message_age or self._max_age
        self._frag_root = None
        if not frags:  # a full run: the page is drawn anew and its timers start again
            self._stop_timers()
            self._drawing.clear()

    def _delta(self, fm: ForwardMsg) -> None:
        path = tuple(fm.metadata.delta_path)
        if self._run.get("fragment") and self._frag_root is None:
            self._frag_root = path  # a fragment run redraws its container, first, in full
            for p in [p for p in self._drawing if p[: len(path)] == path]:
                del self._drawing[p]
        which = fm.delta.WhichOneof("type")
        if which != "new_element":
            return
        el = fm.delta.new_element
        t = el.WhichOneof("type")
        if t == "button":
            self._drawing[path] = ("button", el.button.label, el.button.id)
        elif t in ("markdown", "alert"):
            self._drawing[path] = ("text", getattr(el, t).body, "")
        elif t == "exception":
            self.exceptions.append(f"page {self.page!r}: {el.exception.type}: {el.exception.message}"[:300])
            self._drawing[path] = ("exception", el.exception.message, "")
        elif t and getattr(getattr(el, t), "id", ""):  # a widget: its label (a component: its name) and id
            inner = getattr(el, t)
            label = getattr(inner, "label", "") or getattr(inner, "component_name", "")
            self._drawing[path] = (t, label, inner.id)
        else:
            self._drawing.pop(path, None)

    def _finished(self, status) -> None:
        now = time.perf_counter()
        self._run["running"] = False
        if status not in DONE and status != ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            return  # cut short by a rerun: the next run answers
        self.view = dict(self._drawing)  # what a reader sees: never a page half redrawn
        run = self._run
        answered = [t for t in self._ticks if t <= run.get("t", now)]
        self._ticks = [t for t in self._ticks if t > run.get("t", now)]
        self.tick_times += [now - t for t in answered]
        if status in DONE:
            self._full_runs += 1
            self._cache = {h: v for h, v in self._cache.items() if self._full_runs - v[1] <= self._max_age}
            if self._waiting is not None and not self._waiting.done() and run.get("t", 0) >= self._asked_at:
                self._waiting.set_result(None)
            elif not run.get("asked") and "t" in run:
                self.redraw_times.append(now - run["t"])
