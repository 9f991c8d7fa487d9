"""CNN Playground: the frame (app_pages/frame.py: navigation over the pages and the shared sidebar).

Streamlit runs this file as ``__main__``. A job's worker process (multiprocessing's fork server) re-imports its
parent's main module as ``__mp_main__``, and during a script run Streamlit's ``__main__`` is this file: without
the guard every worker ran the whole app again, in bare mode (each st call logged "missing ScriptRunContext")."""

if __name__ == "__main__":
    from app_pages.frame import main

    main()
