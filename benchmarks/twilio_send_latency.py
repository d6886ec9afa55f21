"""Latency of the Twilio SMS channel: ``TwilioSms.send_sms`` called → the request
arriving at the local Twilio-compatible server (official ``twilio`` package,
aiohttp, loopback). The channel's half of "critical finding → Twilio request".

    .venv/bin/python benchmarks/twilio_send_latency.py --messages 500
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from alerts.channels import Outbound
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport
from simulators.twilio_server import Recorded, TwilioServer, new_sid


async def main(n: int) -> None:
    sid, token = new_sid("AC"), "bench-token"
    arrived: dict[str, float] = {}

    def on(event: str, r: Recorded) -> None:
        if event == "created":
            arrived[r.to] = time.perf_counter()

    async with TwilioServer(sid, token, callback_interval=3600) as server:
        server.listeners.append(on)
        config = TwilioConfig(sid, token, "+15005550006", "http://127.0.0.1:9", server.base_url)
        transport = TwilioTransport(config)
        sms = TwilioSms(transport)
        lat: list[float] = []
        try:
            for i in range(n):
                to = f"+86138{i:08d}"
                start = time.perf_counter()
                await sms.send_sms(
                    Outbound(1, f"bench:{i}", to, "【颐养安】王秀英于03:05按下了紧急呼叫")
                )
                lat.append((arrived[to] - start) * 1000)
        finally:
            await transport.aclose()
    lat.sort()
    q = statistics.quantiles(lat, n=100)
    print(f"{n} SMS: send_sms → request at the server  p50 {q[49]:.2f} ms  p99 {q[98]:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    asyncio.run(main(parser.parse_args().messages))
