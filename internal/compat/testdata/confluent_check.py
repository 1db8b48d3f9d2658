"""Compatibility check with confluent-kafka-python (librdkafka).

Run by tools_test.go as:
    /usr/bin/python3 confluent_check.py BOOTSTRAP TOPIC [REPLICATION_FACTOR]
Creates TOPIC with three partitions (and min.insync.replicas=2 when it is
replicated), alters and describes its retention.ms, produces keyed records with headers under every codec with the
idempotent producer and acks=all, reads them back by assignment, and checks
that every delivered offset holds exactly what was sent; then two members of
a group read it in turn. BOOTSTRAP may name one broker of a cluster: the
client finds the others, and each partition's leader, from Metadata. Prints
one line per phase and exits non-zero on the first mismatch.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

bootstrap, topic = sys.argv[1], sys.argv[2]
replication_factor = int(sys.argv[3]) if len(sys.argv) > 3 else 1
partitions = 3
codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
per_codec = 200

admin = AdminClient({"bootstrap.servers": bootstrap})
configs = {"min.insync.replicas": "2"} if replication_factor > 1 else {}
futures = admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                        replication_factor=replication_factor, config=configs)])
for f in futures.values():
    f.result(timeout=30)
# In a cluster the broker asked may learn of the topic a moment after the
# controller created it.
deadline = time.monotonic() + 30
while True:
    md = admin.list_topics(topic, timeout=30)
    parts = md.topics[topic].partitions
    if len(parts) == partitions and all(p.leader >= 0 for p in parts.values()):
        break
    if time.monotonic() > deadline:
        sys.exit(f"admin: topic not described with {partitions} led partitions: {parts}")
    time.sleep(0.1)
assert all(len(p.replicas) == replication_factor for p in parts.values()), parts
print(f"admin: topic created with {partitions} partitions of {replication_factor} replicas; "
      f"{len(md.brokers)} brokers, partition leaders {sorted(p.leader for p in parts.values())}")

# A config change through the admin client (AlterConfigs; in a cluster the
# broker that gets it forwards it to the controller), read back with
# DescribeConfigs once the broker asked has applied it.
for f in admin.alter_configs([ConfigResource("topic", topic, set_config=dict(configs, **{"retention.ms": "7200000"}))]).values():
    f.result(timeout=30)
deadline = time.monotonic() + 30
while True:
    res = list(admin.describe_configs([ConfigResource("topic", topic)]).values())[0].result(timeout=30)
    if res["retention.ms"].value == "7200000":
        break
    if time.monotonic() > deadline:
        sys.exit(f"admin: retention.ms is {res['retention.ms'].value}, want 7200000")
    time.sleep(0.1)
print("admin: retention.ms altered and described")

sent = {}  # (partition, offset) -> (key, value, headers)
errors = []


def delivered(hdrs):
    # Delivery reports carry no headers, so remember the ones sent.
    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
            return
        sent[(msg.partition(), msg.offset())] = (msg.key(), msg.value(), hdrs)
    return on_delivery


for codec in codecs:
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": codec,
        "linger.ms": 5,
    })
    for i in range(per_codec):
        hdrs = [("codec", codec.encode()), ("i", str(i).encode())]
        p.produce(topic, key=f"{codec}-{i % 7}".encode(), value=f"{codec} value {i}".encode(),
                  headers=hdrs, on_delivery=delivered(hdrs))
    left = p.flush(30)
    if left or errors:
        sys.exit(f"produce with {codec}: {left} undelivered, errors {errors[:3]}")
    print(f"produce: {per_codec} records with {codec} acknowledged")

c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "compat-python",
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
})
c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
got = {}
idle = 0
while len(got) < len(sent) and idle < 20:
    msg = c.poll(1.0)
    if msg is None:
        idle += 1
        continue
    if msg.error():
        raise KafkaException(msg.error())
    hdrs = [(k, v) for k, v in (msg.headers() or [])]
    key = (msg.partition(), msg.offset())
    if key in got:
        sys.exit(f"offset {key} delivered twice")
    got[key] = (msg.key(), msg.value(), hdrs)
c.close()

if got != sent:
    missing = set(sent) - set(got)
    extra = set(got) - set(sent)
    diff = [k for k in sent if k in got and sent[k] != got[k]]
    sys.exit(f"consume mismatch: {len(missing)} missing, {len(extra)} extra, {len(diff)} differ")
print(f"consume: all {len(got)} records read back at their acknowledged offsets")

# Group consumption: subscribe, read half, commit synchronously, close; a
# second member of the same group must resume exactly after the commit.
def group_consumer():
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "compat-python-group",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
    })


half = len(sent) // 2
c = group_consumer()
c.subscribe([topic])
first = {}
idle = 0
while len(first) < half and idle < 30:
    msg = c.poll(1.0)
    if msg is None:
        idle += 1
        continue
    if msg.error():
        raise KafkaException(msg.error())
    first[(msg.partition(), msg.offset())] = True
# Commits the offsets stored by poll: exactly the records read, on every
# partition the member read from.
c.commit(asynchronous=False)
c.close()
if len(first) != half:
    sys.exit(f"group: first member read {len(first)} of {half}")

c = group_consumer()
c.subscribe([topic])
rest = {}
idle = 0
while len(first) + len(rest) < len(sent) and idle < 30:
    msg = c.poll(1.0)
    if msg is None:
        idle += 1
        continue
    if msg.error():
        raise KafkaException(msg.error())
    key = (msg.partition(), msg.offset())
    if key in first or key in rest:
        sys.exit(f"group: offset {key} delivered again after the commit")
    rest[key] = True
c.close()
if len(first) + len(rest) != len(sent):
    sys.exit(f"group: {len(first)} + {len(rest)} records, want {len(sent)}")
print(f"group: two members in turn read all {len(sent)} records once, resuming from committed offsets")
