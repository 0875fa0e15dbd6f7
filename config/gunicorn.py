"""gunicorn settings for the web process (Procfile, deploy/systemd/desk-web.service).

    gunicorn config.wsgi -c config/gunicorn.py

The access log leaves out query strings: Meta's webhook handshake carries the verify token in
the URL (``hub.verify_token``), and nothing secret may reach a log line.
"""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Requests never wait on the network (sends and media downloads are Celery tasks), so plain
# synchronous workers, about two per core, keep every core busy.
worker_class = "sync"
timeout = 30
graceful_timeout = 30
accesslog = "-"
# %(U)s is the path without the query string; %(M)s the request time in milliseconds.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Behind the reverse proxy on the same machine: trust its X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
