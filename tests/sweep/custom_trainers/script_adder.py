"""A `backend: command` trainer, run as `python script_adder.py`: the same addition task as the
sample `my_trainer` (manifests/samples/custom-trainer), plain Python (no tunesweep import), through
the file contract of
`tunesweep_trainer.custom.command_backend`: least-squares by gradient descent at `optim.learning_rate`.

With `optim.fail_at_step` set it exits 3 at that step, as a crashing trainer does.
"""

import json
import os
import re
import sys

NUMBERS = re.compile(r"(\d+)\+(\d+)")


def features(prompt):
    a, b = NUMBERS.search(prompt).groups()
    return [(int(a) - 55) / 100.0, (int(b) - 55) / 100.0, 1.0]  # centred: well conditioned


def read_jsonl(variable):
    with open(os.environ[variable]) as file:
        return [json.loads(line) for line in file if line.strip()]


def main():
    with open(os.environ["TUNESWEEP_CONFIG"]) as file:
        config = json.load(file)
    rung_steps = set(json.loads(os.environ["TUNESWEEP_RUNG_STEPS"]))
    rate, fail_at = config["optim"]["learning_rate"], config["optim"].get("fail_at_step")
    records = read_jsonl("TUNESWEEP_TRAIN_EXAMPLES")
    train = [(features(r["prompt"]), (int(r["answer"]) - 110) / 100.0) for r in records]
    weights = [0.0, 0.0, 0.0]

    def predict(xs):
        return sum(w * x for w, x in zip(weights, xs, strict=True))

    def answers(prompts):
        return {p["id"]: f"ANSWER {round(110 + 100 * predict(features(p['prompt'])))}" for p in prompts}

    rung_prompts = read_jsonl("TUNESWEEP_RUNG_PROMPTS")
    for step in range(1, int(os.environ["TUNESWEEP_MAX_STEPS"]) + 1):
        if step == fail_at:
            print(f"giving up at step {step}", file=sys.stderr)
            sys.exit(3)
        batch = [train[(step * 16 + i) % len(train)] for i in range(16)]
        errors = [(predict(xs) - y, xs) for xs, y in batch]
        for index in range(3):
            weights[index] -= rate * 2 * sum(e * xs[index] for e, xs in errors) / len(batch)
        line = {"step": step, "loss": sum(e * e for e, _ in errors) / len(batch)}
        if step in rung_steps:
            line["rung_answers"] = answers(rung_prompts)
        with open(os.environ["TUNESWEEP_METRICS"], "a") as file:
            file.write(json.dumps(line) + "\n")
    with open(os.environ["TUNESWEEP_ANSWERS"], "w") as file:
        for answer_id, text in answers(read_jsonl("TUNESWEEP_ANSWER_PROMPTS")).items():
            file.write(json.dumps({"id": answer_id, "answer": text}) + "\n")


if __name__ == "__main__":
    main()
