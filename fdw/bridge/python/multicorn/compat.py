"""Python 2 shims kept for FDWs written against older multicorn releases."""

unicode_ = str
basestring_ = str
bytes_ = bytes

__all__ = ["unicode_", "basestring_", "bytes_"]
