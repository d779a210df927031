import pytest

from ansible_collections.pgdist.cluster.plugins.module_utils.identifiers import (
    InvalidInput, check_identifier, split_qualified)


@pytest.mark.parametrize('name', ['a' * 63, '\u00e9' * 31 + 'a', 'x"; DROP TABLE t; --', 'Upper Case', 'r\u00f4le'])
def test_accepts_names_up_to_63_bytes_verbatim(name):
    assert check_identifier(name, 'name') == name


@pytest.mark.parametrize('name, size', [('a' * 64, 64), ('\u00e9' * 32, 64), ('\u6f22' * 22, 66)])
def test_refuses_names_over_63_bytes_counting_utf8_bytes(name, size):
    with pytest.raises(InvalidInput) as raised:
        check_identifier(name, 'server')
    message = str(raised.value)
    assert message.startswith('server ')
    assert '%d bytes' % size in message and '63' in message


def test_multibyte_name_under_63_characters_is_still_refused():
    name = '\u00e9' * 32
    assert len(name) == 32
    with pytest.raises(InvalidInput):
        check_identifier(name, 'name')


@pytest.mark.parametrize('value, fragment', [('', 'non-empty'), (None, 'non-empty'), ('a\x00b', 'NUL')])
def test_refuses_empty_and_nul(value, fragment):
    with pytest.raises(InvalidInput) as raised:
        check_identifier(value, 'owner')
    assert str(raised.value).startswith('owner ') and fragment in str(raised.value)


def test_split_qualified():
    assert split_qualified('books', 'table') == ('public', 'books')
    assert split_qualified('lib.books', 'table') == ('lib', 'books')
    assert split_qualified('lib.my.books', 'table') == ('lib', 'my.books')
    with pytest.raises(InvalidInput) as raised:
        split_qualified('s' * 64 + '.books', 'table')
    assert str(raised.value).startswith('table (schema) ')
    with pytest.raises(InvalidInput):
        split_qualified('', 'table')
