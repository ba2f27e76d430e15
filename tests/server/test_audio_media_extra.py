"""The ``media`` extra stays optional: ``import mistral_client`` loads none of it, and the server runs
without it, its audio and OCR routes answering 501 with the line that installs it.

Each check runs in a fresh interpreter, where the extra's modules are made unimportable.
"""

from __future__ import annotations

import json
import subprocess
import sys

MEDIA = ("mutagen", "pypdf", "lameenc", "python_multipart", "multipart")

_BLOCKED = f"""
import sys
for name in {MEDIA!r}:
    sys.modules[name] = None  # import fails, find_spec finds nothing: as if not installed
"""


def run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_client_and_the_server_loads_no_media_module() -> None:
    loaded = run(
        "import sys, json\n"
        "import mistral_client\n"
        f"client = sorted(set({MEDIA!r}) & set(sys.modules))\n"
        "from mistral_client.server import create_app\n"
        "create_app()\n"
        # Starlette loads python-multipart itself when it is installed: only the server's own are counted.
        "print(json.dumps({'client': client, 'server': sorted({'mutagen', 'pypdf', 'lameenc'} & set(sys.modules))}))\n"
    )
    assert loaded == {"client": [], "server": []}


def test_without_the_extra_the_server_answers_501_with_the_install_line() -> None:
    answers = run(
        _BLOCKED + "import json, httpx2\n"
        "from mistral_client.server import LocalServer\n"
        "with LocalServer() as server, httpx2.Client(base_url=server.base_url) as http:\n"
        "    auth = {'authorization': 'Bearer k'}\n"
        "    t = http.post('/v1/audio/transcriptions', data={'model': 'voxtral-mini-latest'}, headers=auth)\n"
        "    o = http.post('/v1/ocr', json={'model': 'mistral-ocr-latest', "
        "'document': {'type': 'document_url', 'document_url': 'https://example.com/a.pdf'}})\n"
        "    mp3 = http.post('/v1/audio/speech', json={'input': 'hi'})\n"
        "    wav = http.post('/v1/audio/speech', json={'input': 'hi', 'response_format': 'wav'})\n"
        "    chat = http.post('/v1/chat/completions', json={'model': 'mistral-small-latest', "
        "'messages': [{'role': 'user', 'content': 'hi'}]})\n"
        "print(json.dumps({'t': [t.status_code, t.json()['message']], 'o': [o.status_code, o.json()['message']], "
        "'mp3': [mp3.status_code, mp3.json()['message']], 'wav': wav.status_code, 'chat': chat.status_code}))\n"
    )
    install = "pip install 'mistral-client[media]'"
    assert answers["t"] == [501, f"this endpoint of the local server needs mutagen, python-multipart: {install}"]
    assert answers["o"] == [501, f"this endpoint of the local server needs pypdf: {install}"]
    assert answers["mp3"] == [501, f"this endpoint of the local server needs lameenc: {install}"]
    assert answers["wav"] == 200 and answers["chat"] == 200  # what needs nothing from the extra still works
