"""What an ipywidgets `Output` widget captures stays in the widget under nbval, as in JupyterLab and in nbclient.

An explorer (`helpers.teaching.widgets`) draws its first view into its `Output` widget while its cell runs. The kernel
sends those outputs on the cell's channel and sets the widget's `msg_id`, which tells a front end to route them into
the widget; nbclient does so when it stores a notebook (tools/run_notebooks.py), so the stored cell holds only the
explorer's one-line text form. nbval knows nothing of widgets and would take the captured outputs for the cell's own.
This plugin, loaded by the root conftest.py, drops the outputs sent while an `Output` widget captures (its `msg_id`
set), and leaves every other message to nbval.
"""

from __future__ import annotations

from nbval.plugin import IPyNbFile

CAPTURED = {"stream", "display_data", "update_display_data", "clear_output", "execute_result"}


def capture_change(msg: dict) -> tuple[str, bool] | None:
    """(comm id, capturing?) when `msg` sets an Output widget's `msg_id`, else None."""
    if msg["msg_type"] != "comm_msg":
        return None
    data = msg["content"].get("data", {})
    state = data.get("state", {})
    if data.get("method") != "update" or "msg_id" not in state:
        return None
    return msg["content"]["comm_id"], bool(state["msg_id"])


_get_kernel_message = IPyNbFile.get_kernel_message


def get_kernel_message(self: IPyNbFile, timeout: float | None = None, stream: str = "iopub") -> dict:
    """nbval's next kernel message, skipping the outputs that an Output widget captures."""
    capturing = self.__dict__.setdefault("_capturing_outputs", set())  # comm ids of Output widgets capturing now
    while True:
        msg = _get_kernel_message(self, timeout=timeout, stream=stream)
        if stream != "iopub":
            return msg
        change = capture_change(msg)
        if change is not None:
            comm_id, on = change
            if on:
                capturing.add(comm_id)
            else:
                capturing.discard(comm_id)
        elif capturing and msg["msg_type"] in CAPTURED:
            continue
        return msg


IPyNbFile.get_kernel_message = get_kernel_message
