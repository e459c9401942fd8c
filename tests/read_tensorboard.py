"""Reads a run directory's TensorBoard event file with TensorBoard's own EventAccumulator and
prints what it found as JSON (tags, steps, values, text, histogram counts)."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0, "histograms": 0})
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "text": {t: [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(t)] for t in tags["tensors"] if t.endswith("/text_summary")},
    "histograms": {t: [e.histogram_value.num for e in acc.Histograms(t)] for t in tags["histograms"]},
}
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

# The hparams dashboard reads plugin content through the multiplexer, as done here.
mux = EventMultiplexer()
mux.AddRunsFromDirectory(sys.argv[1])
mux.Reload()
content = mux.PluginRunToTagToContent("hparams").get(".", {})
if "_hparams_/session_start_info" in content:
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    out["hparams"] = {k: v.number_value if v.HasField("number_value") else v.string_value for k, v in data.session_start_info.hparams.items()}
print(json.dumps(out))
