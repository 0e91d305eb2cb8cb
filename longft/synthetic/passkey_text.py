"""The passkey task's texts, shared by the evaluation that asks them and the drills that train
the code form: one place, so the trained form and the evaluated form cannot drift apart."""

TASK = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
GARBAGE = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
CODE_NEEDLE = "passkey = {key}  # the pass key\n"
CODE_QUESTION = ("\n# recall the pass key\n", "passkey =")  # (question, answer prefix)
LANDMARK_QUESTION = (" What is the pass key?", " The pass key is")
