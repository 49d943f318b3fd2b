package web

import (
	"fmt"
	"html/template"
	"net/http"
)

// pages are the server-rendered shells; static/app.js fills them from
// the API (one path: the pages do what the API does, nothing else).
type pages struct {
	t map[string]*template.Template
}

func loadPages() (*pages, error) {
	p := &pages{t: map[string]*template.Template{}}
	for _, name := range []string{"login", "index", "ceremony", "accounts"} {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		p.t[name] = t
	}
	return p, nil
}

type pageData struct {
	// Cert is the account a verified client certificate names (login).
	Cert  string
	Title string
	Who   Actor
	ID    string
	Page  string
	// Station is the console's station.
	Station StationInfo
}

func (s *Server) render(w http.ResponseWriter, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	d.Page = name
	d.Station = s.cfg.Station
	if err := s.pages.t[name].ExecuteTemplate(w, "layout", d); err != nil {
		s.cfg.Log.Printf("web: render %s: %v", name, err)
	}
}

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request) {
	s.render(w, "login", pageData{Title: "Log in", Cert: certSubject(r)})
}

// page serves a page to a logged-in account; anyone else goes to /login.
func (s *Server) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, who, e := s.auth.user(r)
		if e != nil {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		// Admins manage accounts and nothing else; the accounts page is
		// theirs only.
		if who.Role == roleAdmin && name != "accounts" {
			http.Redirect(w, r, "/accounts", http.StatusSeeOther)
			return
		}
		if who.Role != roleAdmin && name == "accounts" {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		title := "Ceremonies"
		switch name {
		case "ceremony":
			title = "Ceremony " + r.PathValue("id")
		case "accounts":
			title = "Accounts"
		}
		s.render(w, name, pageData{Title: title, Who: who, ID: r.PathValue("id")})
	}
}
