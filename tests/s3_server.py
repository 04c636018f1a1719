"""A real S3-compatible server on localhost (moto in server mode) for the object-storage tests.

The loader talks to it over HTTP through pyarrow's S3 client, as to any S3-compatible
service; the tests put objects with a client of their own.
"""

from __future__ import annotations

import itertools
import logging
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ACCESS_KEY = "loader-test-key"
SECRET_KEY = "loader-test-secret"
_buckets = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    """moto's S3 on a free port; ``env`` is what a loader process needs to reach it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        import pyarrow.fs as pafs

        self.fs = pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region="us-east-1",
            endpoint_override=f"127.0.0.1:{self.port}",
            scheme="http",
            allow_bucket_creation=True,
        )

    def stop(self) -> None:
        self.server.stop()

    @contextmanager
    def authenticating(self) -> Iterator[None]:
        """The server checks access keys (only its own IAM users' pass) while inside."""
        self._set_auth(b"0")
        try:
            yield
        finally:
            self._set_auth(b"inf")

    def _set_auth(self, count: bytes) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth", data=count, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


class Bucket:
    """A fresh bucket of its own for one test."""

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.name = f"bucket-{next(_buckets)}"
        server.fs.create_dir(self.name)

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def put(self, key: str, data: bytes) -> str:
        with self.server.fs.open_output_stream(f"{self.name}/{key}", compression=None) as out:
            out.write(data)
        return self.uri(key)

    def upload(self, path: Path, key: str) -> str:
        with open(path, "rb") as src, self.server.fs.open_output_stream(f"{self.name}/{key}", compression=None) as out:
            while block := src.read(1 << 20):
                out.write(block)
        return self.uri(key)

    def delete(self, key: str) -> None:
        self.server.fs.delete_file(f"{self.name}/{key}")

    def keep_versions(self) -> None:
        """Turn on the bucket's versioning: each put of a key gets a version id of its own."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.server.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )
        client.put_bucket_versioning(Bucket=self.name, VersioningConfiguration={"Status": "Enabled"})

    @property
    def env(self) -> dict[str, Any]:
        return self.server.env
