"""Tools: commands that build or describe the project's files from the library packages.

They sit above :mod:`cmr.hand`, :mod:`cmr.mesh`, :mod:`cmr.vis` and the rest, which never import
them. ``hand_template`` builds ``template/`` from the open hand model (``python -m cmr
template``); ``template_report`` measures a template (``python -m cmr template --report``);
``synth`` renders the synthetic dataset (``python -m cmr synth``) and ``sheet`` draws a contact
sheet of dataset samples (``python -m cmr sheet``).
"""
