"""The worker survives losing Redis: requeueing unacked messages on a dead connection is not fatal."""

import pytest
import redis
from kombu.transport import redis as kombu_redis

from shared.config import Config
from shared.events import make_celery
from shared.events.consumers import RedisTransport, _RedisChannel, _RedisQoS


def test_a_redis_broker_uses_the_transport_that_survives_losing_redis():
    app = make_celery(Config(CELERY_BROKER_URL="redis://127.0.0.1:1/0", REDIS_URL=""))
    assert app.connection_for_write().get_transport_cls() is RedisTransport
    amqp = make_celery(Config(CELERY_BROKER_URL="amqp://guest@127.0.0.1:1//", REDIS_URL=""))
    assert amqp.connection_for_write().get_transport_cls() is not RedisTransport


def test_requeueing_on_a_torn_down_connection_leaves_the_messages_to_the_visibility_timeout(monkeypatch):
    def torn_down(self, client=None):
        raise AttributeError("'NoneType' object has no attribute 'hostname'")

    monkeypatch.setattr(kombu_redis.QoS, "restore_unacked", torn_down)
    qos = _RedisQoS.__new__(_RedisQoS)
    qos._delivered = {"tag-1": object()}
    assert qos.restore_unacked() is None
    assert qos._delivered == {}


def test_a_channel_whose_connection_is_gone_raises_a_connection_error_kombu_handles():
    channel = _RedisChannel.__new__(_RedisChannel)
    channel.connection = None
    with pytest.raises(redis.ConnectionError):
        channel._connparams()
