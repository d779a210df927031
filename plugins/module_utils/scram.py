# -*- coding: utf-8 -*-
# Copyright: pgdist.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Password verifiers as PostgreSQL stores them in pg_authid.rolpassword.

The user module sends a SCRAM-SHA-256 verifier computed here, never the
clear-text password, so the password is not in the server's statement log
either; and it compares a wanted password against the stored verifier
(SCRAM or MD5) to decide whether anything changes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16


def _saslprep(password):
    """RFC 4013 SASLprep as PostgreSQL applies it; the raw string when it does not apply."""
    if all(ord(ch) < 128 for ch in password):
        return password
    mapped = ''.join(' ' if stringprep.in_table_c12(ch) else ch
                     for ch in password if not stringprep.in_table_b1(ch))
    normalized = unicodedata.normalize('NFKC', mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
                  stringprep.in_table_a1)
    if any(check(ch) for ch in normalized for check in prohibited):
        return password
    return normalized


def _b64(data):
    return base64.b64encode(data).decode('ascii')


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier string for password."""
    salt = os.urandom(SCRAM_SALT_BYTES) if salt is None else salt
    salted = hashlib.pbkdf2_hmac('sha256', _saslprep(password).encode('utf-8'), salt, iterations)
    client_key = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b'Server Key', hashlib.sha256).digest()
    return 'SCRAM-SHA-256$%d:%s$%s:%s' % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def md5_verifier(password, username):
    return 'md5' + hashlib.md5((password + username).encode('utf-8')).hexdigest()


def password_matches(password, stored, username):
    """True when stored (a pg_authid.rolpassword value) verifies password."""
    if not stored:
        return False
    if stored.startswith('SCRAM-SHA-256$'):
        try:
            iterations, salt = stored.split('$')[1].split(':')
            expected = scram_verifier(password, base64.b64decode(salt), int(iterations))
        except (ValueError, IndexError):
            return False
        return hmac.compare_digest(expected, stored)
    if stored.startswith('md5') and len(stored) == 35:
        return hmac.compare_digest(md5_verifier(password, username), stored)
    return False
