"""A function run in a thread while a test acts: its result or its PostgreSQL error after join()."""

import threading

import psycopg2


class InThread(threading.Thread):
    """fn() in a thread: the test acts while it runs; result or error after join."""

    def __init__(self, fn):
        super(InThread, self).__init__(daemon=True)
        self.fn = fn
        self.result = self.error = None
        self.start()

    def run(self):
        try:
            self.result = self.fn()
        except psycopg2.Error as exc:
            self.error = exc
