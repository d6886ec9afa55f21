"""Latency of the Aliyun and Tencent Cloud SMS channels: ``send_sms`` called → the
request accepted by the local look-alike (official SDKs, signed, loopback). The
channel's half of "critical finding → SMS request", beside
``twilio_send_latency.py``.

    .venv/bin/python benchmarks/cn_sms_send_latency.py --messages 300
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from alerts.aliyun_channels import AliyunConfig, AliyunSms
from alerts.channels import Outbound, SmsChannel
from alerts.cn_sms import Endpoint, RetryPolicy, SendRecord
from alerts.sms_templates import load_templates
from alerts.tencent_channels import TencentConfig, TencentSms
from simulators.aliyun_server import AliyunServer
from simulators.cn_lookalike import LookAlike, Sent
from simulators.tencent_server import TencentServer

PARAMS = {
    "who": "王秀英",
    "what": "按下了紧急呼叫",
    "time": "03:05",
    "state": "正在通知护理中心",
    "phone": "057100000000",
}


async def run(provider: str, n: int) -> None:
    templates = load_templates()
    server: LookAlike = (
        AliyunServer("LTAIbench", "bench-secret", limits=[])
        if provider == "aliyun"
        else TencentServer("AKIDbench", "bench-secret", "1400000001", limits=[])
    )
    arrived: dict[str, float] = {}

    def on(sent: Sent) -> None:
        arrived[sent.session] = time.perf_counter()

    async with server:
        server.listeners.append(on)
        endpoint = Endpoint.parse(server.base_url)
        record = SendRecord(provider, RetryPolicy())
        sms: SmsChannel
        if provider == "aliyun":
            cfg = AliyunConfig("LTAIbench", "bench-secret", endpoint, endpoint)
            sms = AliyunSms(cfg, templates, record)
        else:
            tcfg = TencentConfig("AKIDbench", "bench-secret", "1400000001", endpoint)
            sms = TencentSms(tcfg, templates, record)
        lat: list[float] = []
        try:
            for i in range(n):
                key = f"bench.{i}"
                start = time.perf_counter()
                await sms.send_sms(
                    Outbound(1, key, f"+86138{i:08d}", "", template="alert", params=PARAMS)
                )
                lat.append((arrived[key] - start) * 1000)
        finally:
            close = getattr(sms, "aclose", None)
            if close is not None:
                await close()
    q = statistics.quantiles(lat, n=100)
    print(
        f"{provider}: {n} SMS, send_sms → accepted by the look-alike  "
        f"p50 {q[49]:.2f} ms  p99 {q[98]:.2f} ms"
    )


async def main(n: int) -> None:
    for provider in ("aliyun", "tencent"):
        await run(provider, n)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    asyncio.run(main(parser.parse_args().messages))
