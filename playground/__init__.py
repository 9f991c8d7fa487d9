"""CNN Playground core: data, models, training engine, run store (no Streamlit)."""
