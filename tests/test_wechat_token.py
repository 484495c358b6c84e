"""Identity's replicas share the WeChat access token (`/cgi-bin/stable_token`) instead of invalidating each
other's, as every call of the older `/cgi-bin/token` would (the fake WeChat models both: there, a second client
would get a second token, and the first would die within five minutes)."""

from __future__ import annotations

from devstack.stack import Stack
from identity.settings import IdentitySettings
from identity.wechat import WechatClient


async def test_two_replicas_hold_one_token_and_both_keep_sending(stack: Stack):
    settings = IdentitySettings(wechat_base_url=stack.url("wechat"))
    first, second = WechatClient(settings), WechatClient(settings)
    try:
        token = await first._token()
        assert await second._token() == token  # one token for both
        assert await second._token(renew=True) == token  # a renewal does not take it from the other
        for replica in (first, second):
            await replica.send_subscription_message(
                openid="token-test", template_id="tmpl-request-booked", data={"item": "x"}, page=None
            )
    finally:
        await first.close()
        await second.close()
