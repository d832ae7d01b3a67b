"""A trial for the executor contract: runs ``sleep`` seconds, then fails or reports ``loss = x``."""
import json
import os
import sys
import time

config = json.load(open(os.environ["ORCH_CONFIG_FILE"]))
time.sleep(config["sleep"])
if config["crash"]:
    sys.exit("trial failed on purpose")
json.dump({"loss": config["x"]}, open(os.environ["ORCH_RESULT_FILE"], "w"))
