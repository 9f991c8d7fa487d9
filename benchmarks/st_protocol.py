"""A small Streamlit client that speaks the browser's websocket protocol (``streamlit.proto``).

Each ``Session`` is one browser tab: it asks for a page (``rerun_script`` with a query string),
reads the ForwardMsgs until the script run finishes, and remembers the buttons it was shown, so a
test can press one (``click``) or send what any client may send (``clear_cache``). Cheap enough to
run many sessions against one ``streamlit run`` server, and exact: no browser in between.
"""

from __future__ import annotations

import asyncio
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

__all__ = ["Session"]


class Session:
    def __init__(self, url: str) -> None:
        self.url = url.replace("http://", "ws://").rstrip("/") + "/_stcore/stream"
        self.ws = None
        self.page = ""
        self.query = ""
        self.buttons: dict[str, str] = {}  # label -> widget id, from the last script run
        self.texts: list[str] = []  # markdown / caption / alert bodies of the last run

    async def __aenter__(self) -> "Session":
        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def open(self, page: str, query: str = "", timeout: float = 60) -> "Session":
        self.page, self.query = page, query
        return await self._rerun({}, timeout)

    async def click(self, label: str, timeout: float = 60) -> "Session":
        return await self._rerun({self.buttons[label]: True}, timeout)

    async def clear_cache(self) -> None:
        msg = BackMsg()
        msg.clear_cache = True
        await self.ws.send(msg.SerializeToString())

    async def _rerun(self, triggers: dict[str, bool], timeout: float) -> "Session":
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = self.page
        for wid, value in triggers.items():
            w = msg.rerun_script.widget_states.widgets.add()
            w.id = wid
            w.trigger_value = value
        await self.ws.send(msg.SerializeToString())
        self.buttons, self.texts = {}, []
        deadline = time.time() + timeout
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.time()))
            fm = ForwardMsg()
            fm.ParseFromString(raw)
            kind = fm.WhichOneof("type")
            if kind == "page_info_changed":
                self.query = fm.page_info_changed.query_string
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                self._record(fm.delta.new_element)
            elif kind == "script_finished" and fm.script_finished in (ForwardMsg.FINISHED_SUCCESSFULLY,
                                                                       ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                return self  # (a fragment's own run, or one cut short by st.rerun, is not the end)

    def _record(self, el) -> None:
        which = el.WhichOneof("type")
        if which == "button":
            self.buttons[el.button.label] = el.button.id
        elif which == "markdown":
            self.texts.append(el.markdown.body)
        elif which == "alert":
            self.texts.append(el.alert.body)
