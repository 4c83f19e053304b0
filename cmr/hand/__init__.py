"""The open parametric hand model: skeleton, procedural rest mesh, shape space, skinning."""
